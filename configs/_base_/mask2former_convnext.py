# What every Mask2Former + ConvNeXt config here shares, stated once: the backbone replacing
# the library's ResNet-50, and the optimizer: Mask2Former's (AdamW lr 1e-4, weight decay
# 0.05, eps 1e-8, gradient clipping at 0.01, no weight decay on the query and level
# embeddings) with the backbone's lr x 0.1 of the Swin/ResNet recipes replaced by
# ConvNeXt's own lr decay (the leaves set its rate and type from the ConvNeXt recipe of the
# same size and task). Variables rather than config keys, so that it can be inherited
# beside mmdet's and mmseg's Mask2Former bases: the three mask2former_convnext_* bases
# assign them (and import convnext_backbone: mmseg's base has a custom_imports of its own).

convnext_backbone = dict(
    _delete_=True,
    type='ConvNeXtBackbone',
    out_indices=(0, 1, 2, 3),
    layer_scale_init_value=1.0)
no_decay = dict(decay_mult=0.0)
mask2former_optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',  # fp32, as the library's Mask2Former recipes
    constructor='ConvNeXtLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(
        custom_keys=dict(query_embed=no_decay, query_feat=no_decay, level_embed=no_decay)),
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    clip_grad=dict(max_norm=0.01, norm_type=2))
