# ConvNeXt V2-N (depths 2-2-8-2, GRN, no layer scale): the arch name and the stage widths
# that the neck and heads take. The one place in the configs where this size's channels are
# written (checked against the backbone's arch table by tests/test_configs.py).
convnext_arch = 'v2-nano'
convnext_channels = [80, 160, 320, 640]
