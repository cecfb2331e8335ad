# DINO (5-scale) with a ConvNeXt backbone on COCO 2017, 12 epochs. No published ConvNeXt
# result: derived from mmdet's DINO-5scale Swin-L recipe (dino-5scale_swin-l_8xb2-12e_coco.py:
# all four stages into a 5-level ChannelMapper, 5 levels in the deformable attention,
# gradient checkpointing in the backbone, otherwise the 4-scale recipe) with the backbone
# values of detrex's 4-scale DINO-ConvNeXt recipe (_base_/dino_convnext.py): drop path 0,
# layer scale 1.0, backbone lr x 0.1 (mmdet's), ImageNet-22k->1k 384 weights.
_base_ = ['mmdet::dino/dino-5scale_swin-l_8xb2-12e_coco.py']
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXtBackbone',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0,
        layer_scale_init_value=1.0,
        with_cp=True))  # leaves set neck.in_channels
