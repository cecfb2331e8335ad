# DeepLabV3+ at output stride 8 (stages 2 and 3 dilated): the ResNet d8 recipe's ASPP rates
# 12/24/36. About 3x the FLOPs of stride 16 (tools/get_flops.py --whole; docs/model_zoo.md).
_base_ = ['./deeplabv3plus_convnext_t_ade20k.py']

model = dict(backbone=dict(output_stride=8), decode_head=dict(dilations=(1, 12, 24, 36)))
