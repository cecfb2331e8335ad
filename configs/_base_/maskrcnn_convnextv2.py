# Mask R-CNN + FPN with a ConvNeXt V2 backbone on COCO 2017, 3x multi-scale + crop (36
# epochs). Leaves add a size fragment (_base_/backbones/convnextv2_*.py), the pretrained
# file and, for sizes without a published detection result, their drop path.
#
# What the ConvNeXt V2 paper (Woo et al., CVPR 2023) publishes for COCO: Mask R-CNN
# fine-tuned from the FCMAE ImageNet-1k pre-training (Table 6), with layer-wise lr decay swept
# in {0.9, 0.95} and drop path in {0.2, 0.3, 0.4, 0.5} (appendix, as quoted in
# facebookresearch/ConvNeXt-V2 issue 13). The value chosen per size is not published, and
# the V2 repository ships no detection code (its issues 8 and 49), so everything else is the
# V1 Mask R-CNN 3x recipe (maskrcnn_convnext_t.py): 3x multi-scale + crop, AdamW lr 1e-4,
# weight decay 0.05, total batch 16, layer-wise decay 0.95 and drop path 0.4 (both inside
# the V2 sweeps). mmdetection's projects/ConvNeXt-V2 reads the paper as large-scale jitter
# at 1024x1024 with soft-NMS (its PR 9619); that is not what this config does.
#
# Layer decay: the constructor derives num_layers from the backbone's real depths
# (3 + ceil(stage-2 depth / 3)); python tools/show_param_groups.py CONFIG prints the groups.
_base_ = ['./maskrcnn_convnext.py', './convnext_det_3x_recipe.py']

model = dict(backbone=dict(layer_scale_init_value=0.0,  # V2 blocks have GRN, no layer scale
                           drop_path_rate=0.4))
train_dataloader = dict(dataset=dict(pipeline={{_base_.ms_crop_train_pipeline}}))
train_cfg = dict(max_epochs=36)
param_scheduler = {{_base_.schedule_3x}}
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.95), optimizer=dict(lr=1e-4))
