# Cascade Mask R-CNN + FPN, ConvNeXt-xlarge, COCO 2017, 3x multi-scale + crop; the rest as in
# cascade_maskrcnn_convnext_t.py. ImageNet-22k pretraining. Paper (Table 3): 55.2 box AP / 47.7 mask AP.
# Batch 16 = 8 GPUs x 2; on another total batch B use lr = 1e-4 * B / 16.
# Pretrained weights: https://dl.fbaipublicfiles.com/convnext/convnext_xlarge_22k_224.pth
_base_ = './cascade_maskrcnn_convnext_t.py'

pretrained = 'checkpoints/convnext_xlarge_22k_224.pth'
model = dict(
    backbone=dict(arch='xlarge', drop_path_rate=0.8,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
optim_wrapper = dict(
    paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=12),
    optimizer=dict(lr=1e-4))
