"""ComfyUI's ``output_block_patch`` on a diffusers UNet: ``fn(h, hsp) -> (h, hsp)`` just before each decoder layer
joins the running features ``h`` with the encoder's skip features ``hsp`` (FreeU patches these).

diffusers has no such hook (its own FreeU picks the factors by up-block index, ComfyUI's by channel count, so the
two disagree), hence these forward pre-hooks, written here: the up block's hook notes the skip tensors it is given,
each resnet's hook splits its concatenated input back into ``h`` and ``hsp`` (the skip is the tail), applies the
patches and joins them again. Installed for one UNet call and removed after it.
"""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def output_block_patches(unet, patches):
    patches = tuple(patches or ())
    if not patches:
        yield unet
        return
    import torch

    handles = []
    try:
        for block in unet.up_blocks:
            skips: list = []

            def note_skips(module, args, kwargs, skips=skips):
                tup = kwargs.get("res_hidden_states_tuple", args[1] if len(args) > 1 else ())
                skips[:] = [t.shape[1] for t in reversed(tup)]  # resnet i takes tuple[-1 - i]

            handles.append(block.register_forward_pre_hook(note_skips, with_kwargs=True))
            for index, resnet in enumerate(block.resnets):

                def patch(module, args, index=index, skips=skips):
                    x, rest = args[0], args[1:]
                    skip = skips[index]
                    h, hsp = x[:, :-skip], x[:, -skip:]
                    for fn in patches:
                        h, hsp = fn(h, hsp)
                    return (torch.cat([h, hsp], dim=1),) + tuple(rest)

                handles.append(resnet.register_forward_pre_hook(patch))
        yield unet
    finally:
        for handle in handles:
            handle.remove()
