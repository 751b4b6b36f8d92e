"""What the pack's node functions import lazily, in one module the editor imports in the background once its window
is up (``WARM_UP`` in the pack): about 7 s on a small CPU that the first Run would otherwise wait for."""
import torch  # noqa: F401
from diffusers import AutoencoderKL, UNet2DConditionModel  # noqa: F401
from transformers import CLIPTextModel, CLIPTextModelWithProjection  # noqa: F401

import nodes.diffusion.models.loading  # noqa: F401
import nodes.diffusion.sampling  # noqa: F401
