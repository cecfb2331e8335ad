# UperNet, ConvNeXt-small (ImageNet-1k pretraining), ADE20K, 512x512 crops, 160k
# iterations; single-scale sliding-window test (stride 341). Multi-scale + flip test:
# upernet_convnext_s_ms.py. Paper (Liu et al. 2022, Table 4): 48.7 mIoU single-scale,
# 49.6 multi-scale.
# Batch 16 = 8 GPUs x 2 (tools/dist_train.sh CONFIG 8); on another total batch B use
# lr = 1e-4 * B / 16 (or --auto-scale-lr). SyncBN heads need a distributed run.
# Pretrained weights: https://dl.fbaipublicfiles.com/convnext/convnext_small_1k_224_ema.pth
_base_ = ['./_base_/upernet_convnext.py', 'mmseg::_base_/datasets/ade20k.py']

crop_size = (512, 512)
pretrained = 'checkpoints/convnext_small_1k_224_ema.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='small', drop_path_rate=0.3,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))
train_dataloader = dict(batch_size=2)  # per GPU
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=12),
    optimizer=dict(lr=1e-4))
