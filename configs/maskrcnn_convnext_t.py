# Mask R-CNN + FPN, ConvNeXt-T (ImageNet-1k), COCO 2017, 3x multi-scale with the
# DETR-style crop augmentation (36 epochs). The published recipe.
# Paper (Liu et al. 2022, Table 3): 46.2 box AP / 41.7 mask AP.
#
# Batch: 16 images per step = 8 GPUs x 2 (tools/dist_train.sh CONFIG 8); on another total
# batch B use lr = 1e-4 * B / 16 (or --auto-scale-lr). Pretrained weights: see
# maskrcnn_convnext_t_1x.py (checkpoints/convnext_tiny_1k_224_ema.pth).
_base_ = ['./maskrcnn_convnext_t_1x.py', './_base_/convnext_det_3x_recipe.py']

train_dataloader = dict(dataset=dict(pipeline={{_base_.ms_crop_train_pipeline}}))
train_cfg = dict(max_epochs=36)
param_scheduler = {{_base_.schedule_3x}}
