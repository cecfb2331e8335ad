# ConvNeXt V2-H (depths 3-3-27-3, GRN, no layer scale): the arch name and the stage widths
# that the neck and heads take. The one place in the configs where this size's channels are
# written (checked against the backbone's arch table by tests/test_configs.py).
convnext_arch = 'v2-huge'
convnext_channels = [352, 704, 1408, 2816]
