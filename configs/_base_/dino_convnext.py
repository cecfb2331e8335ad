# DINO (4-scale) with a ConvNeXt backbone on COCO 2017, 12 epochs: detrex's published
# DINO-ConvNeXt recipe (IDEA-Research/detrex, projects/dino/configs/dino-convnext/: stages
# 1-3 into the 4-level ChannelMapper, drop path 0, layer scale 1.0, AdamW lr 1e-4, weight
# decay 1e-4, backbone lr x 0.1, clipping at 0.1, total batch 16, 12 epochs, ImageNet-22k
# pretrained and 1k fine-tuned at 384 weights), which is mmdet's DINO-4scale R-50 recipe
# (dino-4scale_r50_8xb2-12e_coco.py) with the backbone swapped. detrex's sine position
# embedding differs slightly (temperature 10000, offset -0.5; "about 0.1 mAP" at 12 epochs,
# its README). Published box AP: configs/metafile.yml.
_base_ = ['mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py']
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXtBackbone',
        out_indices=(1, 2, 3),  # strides 8, 16, 32; the neck makes the 4th level
        drop_path_rate=0.0,
        layer_scale_init_value=1.0))  # leaves set neck.in_channels
