"""Upscale-model architectures, detected from the state dict: ESRGAN / RRDBNet and Real-ESRGAN's SRVGGNetCompact.

ComfyUI loads upscale models with spandrel, which knows dozens of architectures. spandrel imports torchvision when
it is imported, and where the only torchvision at hand does not match torch (these machines: a CUDA build of
torchvision next to a CPU torch) it cannot be imported at all. The architectures most shared upscale models use are
therefore written here, after their published definitions (xinntao's ESRGAN / BasicSR RRDBNet and Real-ESRGAN's
SRVGGNetCompact), and load without spandrel; spandrel (the optional extra ``.[upscale]``) adds the others where it
imports (see ``load_upscale_model``).

Key layouts read (all loaded strictly: every key must be used, none may be missing):
- ESRGAN, original ("old") layout: ``model.0`` first conv, ``model.1.sub.N.RDB{1,2,3}.conv{1..5}.0`` the blocks,
  ``model.1.sub.<nb>`` the trunk conv, upsampling convs at ``model.3, model.6, ...``, then the HR conv and the last;
- ESRGAN, BasicSR / Real-ESRGAN ("new") layout: ``conv_first``, ``body.N.rdb{1,2,3}.conv{1..5}``, ``conv_body``,
  ``conv_up1..``, ``conv_hr``, ``conv_last``; and BSRGAN's variant (``RRDB_trunk``, ``trunk_conv``, ``upconv1``,
  ``HRconv``). Real-ESRGAN's x2 / x1 models take the picture pixel-unshuffled (3 * 4 or 3 * 16 input channels);
- SRVGGNetCompact: ``body.0`` first conv, then PReLU / conv pairs, the last conv giving out * scale^2 channels
  for a pixel shuffle, plus a nearest-neighbour upscaled copy of the input.
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn


class UnknownArchitecture(ValueError):
    """The state dict is no upscale model this module (or spandrel, where it imports) knows."""


# -- ESRGAN / RRDBNet --------------------------------------------------------------------------------------------

class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and all earlier outputs; the result is scaled by 0.2 and added."""

    def __init__(self, features: int, growth: int):
        super().__init__()
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(features + i * growth, growth, 3, 1, 1))
        self.conv5 = nn.Conv2d(features + 4 * growth, features, 3, 1, 1)

    def forward(self, x):
        outs = [x]
        for i in range(4):
            outs.append(F.leaky_relu(getattr(self, f"conv{i + 1}")(torch.cat(outs, 1)), 0.2))
        return self.conv5(torch.cat(outs, 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, features: int, growth: int):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (ResidualDenseBlock(features, growth) for _ in range(3))

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's generator (BasicSR's parameter names); ``unshuffle`` > 1 for Real-ESRGAN's x2 / x1 models."""

    def __init__(self, in_channels: int, out_channels: int, features: int, blocks: int, growth: int,
                 upsamples: int, unshuffle: int = 1):
        super().__init__()
        self.unshuffle, self.upsamples = unshuffle, upsamples
        self.scale = 2 ** upsamples // unshuffle
        self.in_channels, self.out_channels = in_channels // (unshuffle * unshuffle), out_channels
        self.conv_first = nn.Conv2d(in_channels, features, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(features, growth) for _ in range(blocks)))
        self.conv_body = nn.Conv2d(features, features, 3, 1, 1)
        for i in range(upsamples):
            setattr(self, f"conv_up{i + 1}", nn.Conv2d(features, features, 3, 1, 1))
        self.conv_hr = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_last = nn.Conv2d(features, out_channels, 3, 1, 1)

    def forward(self, x):
        h, w = x.shape[2:]
        if self.unshuffle > 1:  # reflect-pad to a multiple of the factor, as spandrel does
            f = self.unshuffle
            x = F.pad(x, (0, (f - w % f) % f, 0, (f - h % f) % f), mode="reflect")
            x = F.pixel_unshuffle(x, f)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(self.upsamples):
            feat = F.leaky_relu(getattr(self, f"conv_up{i + 1}")(F.interpolate(feat, scale_factor=2,
                                                                                mode="nearest")), 0.2)
        out = self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))
        return out[:, :, :h * self.scale, :w * self.scale]


def _esrgan_old_to_new(sd: dict) -> dict:
    """The original ESRGAN names renamed to BasicSR's (keys that fit no rule are kept, so strict loading fails)."""
    blocks = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", k)))
    indexes = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(r"model\.(\d+)\.(weight|bias)", k))})
    last = indexes[-1]
    upsamples = (last - 4) // 3
    names = {0: "conv_first", last - 2: "conv_hr", last: "conv_last"}
    names.update({3 * (i + 1): f"conv_up{i + 1}" for i in range(upsamples)})
    out = {}
    for key, value in sd.items():
        if m := re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", key):
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = value
        elif m := re.fullmatch(rf"model\.1\.sub\.{blocks}\.(weight|bias)", key):
            out[f"conv_body.{m.group(1)}"] = value
        elif (m := re.fullmatch(r"model\.(\d+)\.(weight|bias)", key)) and int(m.group(1)) in names:
            out[f"{names[int(m.group(1))]}.{m.group(2)}"] = value
        else:
            out[key] = value
    return out


def _bsrgan_to_new(sd: dict) -> dict:
    out = {}
    for key, value in sd.items():
        key = re.sub(r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2.", key)
        key = re.sub(r"^trunk_conv\.", "conv_body.", key)
        key = re.sub(r"^upconv(\d)\.", r"conv_up\1.", key)
        key = re.sub(r"^HRconv\.", "conv_hr.", key)
        out[key] = value
    return out


def _build_rrdbnet(sd: dict) -> RRDBNet:
    features, in_channels = sd["conv_first.weight"].shape[:2]
    out_channels = sd["conv_last.weight"].shape[0]
    growth = sd["body.0.rdb1.conv1.weight"].shape[0]
    blocks = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.rdb", k)))
    upsamples = sum(1 for k in sd if re.fullmatch(r"conv_up\d+\.weight", k))
    unshuffle = 1
    for factor in (2, 4):  # Real-ESRGAN x2 / x1: the picture enters pixel-unshuffled
        if in_channels == out_channels * factor * factor:
            unshuffle = factor
    return RRDBNet(in_channels, out_channels, features, blocks, growth, upsamples, unshuffle)


# -- Real-ESRGAN SRVGGNetCompact -----------------------------------------------------------------------------------

class SRVGGNetCompact(nn.Module):
    """A plain conv / PReLU stack whose last conv makes out * scale^2 channels, pixel-shuffled, plus the input
    upscaled by nearest neighbour (the net learns the residual)."""

    def __init__(self, in_channels: int, out_channels: int, features: int, convs: int, scale: int):
        super().__init__()
        self.scale, self.in_channels, self.out_channels = scale, in_channels, out_channels
        layers = [nn.Conv2d(in_channels, features, 3, 1, 1), nn.PReLU(num_parameters=features)]
        for _ in range(convs):
            layers += [nn.Conv2d(features, features, 3, 1, 1), nn.PReLU(num_parameters=features)]
        layers.append(nn.Conv2d(features, out_channels * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)

    def forward(self, x):
        out = x
        for layer in self.body:
            out = layer(out)
        out = F.pixel_shuffle(out, self.scale)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def _build_compact(sd: dict) -> SRVGGNetCompact:
    last = max(int(m.group(1)) for k in sd if (m := re.fullmatch(r"body\.(\d+)\.weight", k)))
    features, in_channels = sd["body.0.weight"].shape[:2]
    scale = math.isqrt(sd[f"body.{last}.weight"].shape[0] // in_channels)
    return SRVGGNetCompact(in_channels, in_channels, features, (last - 2) // 2, scale)


# -- detection -----------------------------------------------------------------------------------------------------

def unwrap_state_dict(sd: dict) -> dict:
    """The weights inside BasicSR's training wrappers ("params_ema" preferred, as Real-ESRGAN's inference does) and
    without DataParallel's "module." prefix."""
    for wrapper in ("params_ema", "params", "state_dict"):
        if isinstance(sd.get(wrapper), dict):
            sd = sd[wrapper]
            break
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def detect(sd: dict) -> str | None:
    """"ESRGAN" (any of its layouts), "RealESRGAN_Compact", or None."""
    if "model.0.weight" in sd and "model.1.sub.0.RDB1.conv1.0.weight" in sd:
        return "ESRGAN"
    if "conv_first.weight" in sd and ("body.0.rdb1.conv1.weight" in sd or "RRDB_trunk.0.RDB1.conv1.weight" in sd):
        return "ESRGAN"
    if "body.0.weight" in sd and "body.1.weight" in sd and sd["body.0.weight"].dim() == 4 \
            and sd["body.1.weight"].dim() == 1:
        return "RealESRGAN_Compact"
    return None


def build(sd: dict) -> tuple[str, nn.Module]:
    """(architecture, module with the weights loaded strictly) for a state dict this module knows.

    Raises UnknownArchitecture when it knows none, ValueError when the weights do not fit the detected layout."""
    arch = detect(sd)
    if arch is None:
        raise UnknownArchitecture("not an ESRGAN or Real-ESRGAN compact model")
    if arch == "ESRGAN":
        if "model.0.weight" in sd:
            sd = _esrgan_old_to_new(sd)
        elif "RRDB_trunk.0.RDB1.conv1.weight" in sd:
            sd = _bsrgan_to_new(sd)
        module = _build_rrdbnet(sd)
    else:
        module = _build_compact(sd)
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise ValueError(f"the {arch} weights do not fit its layout: {str(e)[:500]}") from None
    return arch, module.eval()
