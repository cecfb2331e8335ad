# ConvNeXt-XXL (depths 3-4-30-3; OpenCLIP's LAION-2B image tower, timm's convnext_xxlarge,
# LayerNorm eps 1e-5): the arch name and the stage widths that the neck and heads take.
# The one place in the configs where this size's channels are written (checked against the
# backbone's arch table by tests/test_configs.py).
convnext_arch = 'xxlarge'
convnext_channels = [384, 768, 1536, 3072]
