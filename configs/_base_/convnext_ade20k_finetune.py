# What every ConvNeXt ADE20K config here shares, stated once (the official UperNet
# recipe's): the backbone replacing the base model's ResNet, and the fine-tuning optimizer
# and schedule: AdamW, weight decay 0.05, stage-wise lr decay 0.9, mixed precision, linear
# warm-up over 1500 iterations then poly decay to 160k. Variables rather than config keys,
# so that it can be inherited beside mmseg's bases (which define optim_wrapper and
# param_scheduler themselves): upernet_convnext.py and deeplabv3plus_convnext.py assign
# them. Leaves set the size, lr and num_layers.
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)

convnext_backbone = dict(
    _delete_=True,
    type='ConvNeXtBackbone',
    out_indices=(0, 1, 2, 3),
    layer_scale_init_value=1.0)
convnext_optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',  # mixed precision (fp32 fallback on CPU-only machines)
    loss_scale='dynamic',
    constructor='ConvNeXtLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise'),
    optimizer=dict(type='AdamW', betas=(0.9, 0.999), weight_decay=0.05))
convnext_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=160000),
]
