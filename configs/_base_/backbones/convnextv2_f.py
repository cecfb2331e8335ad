# ConvNeXt V2-F (depths 2-2-6-2, GRN, no layer scale): the arch name and the stage widths
# that the neck and heads take. The one place in the configs where this size's channels are
# written (checked against the backbone's arch table by tests/test_configs.py).
convnext_arch = 'v2-femto'
convnext_channels = [48, 96, 192, 384]
