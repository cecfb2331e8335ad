# UperNet, ConvNeXt-base (ImageNet-22k pretraining), ADE20K, 640x640 crops, 160k
# iterations; single-scale sliding-window test (stride 426). Multi-scale + flip test:
# upernet_convnext_b_640_ms.py. Paper (Liu et al. 2022, Table 4): 52.6 mIoU single-scale,
# 53.1 multi-scale.
# Batch 16 = 8 GPUs x 2 (tools/dist_train.sh CONFIG 8); on another total batch B use
# lr = 1e-4 * B / 16 (or --auto-scale-lr). SyncBN heads need a distributed run.
# Pretrained weights: https://dl.fbaipublicfiles.com/convnext/convnext_base_22k_224.pth
_base_ = ['./_base_/upernet_convnext.py', 'mmseg::_base_/datasets/ade20k_640x640.py']

crop_size = (640, 640)
pretrained = 'checkpoints/convnext_base_22k_224.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='base', drop_path_rate=0.4,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(426, 426)))
train_dataloader = dict(batch_size=2)  # per GPU
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=12),
    optimizer=dict(lr=1e-4))
