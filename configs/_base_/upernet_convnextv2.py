# UperNet with a ConvNeXt V2 backbone on ADE20K, 512x512 crops, 160k iterations,
# single-scale sliding-window test. Leaves add a size fragment, the pretrained file and, for
# sizes without a published result, their drop path.
#
# What the ConvNeXt V2 paper (Woo et al., CVPR 2023) publishes for ADE20K: UperNet
# fine-tuned from the FCMAE ImageNet-1k pre-training (Table 7), in the V1 repository's
# mmsegmentation set-up (the V2 authors point there: facebookresearch/ConvNeXt-V2 issue 8).
# Its per-size crop, lr, decay and drop path are not published in a form we could check,
# so they are the V1 ImageNet-1k UperNet recipe's (upernet_convnext_b.py): 512x512 crops,
# 160k iterations, AdamW lr 1e-4, weight decay 0.05, total batch 16, stage-wise lr decay
# 0.9, drop path 0.4.
#
# Layer decay: the constructor derives num_layers from the backbone's real depths
# (3 + ceil(stage-2 depth / 3)); python tools/show_param_groups.py CONFIG prints the groups.
_base_ = ['./upernet_convnext_512.py']

model = dict(backbone=dict(layer_scale_init_value=0.0,  # V2 blocks have GRN, no layer scale
                           drop_path_rate=0.4))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
