# Pieces of the published ConvNeXt COCO recipe that mmdet's base configs do not have.
# Names are distinct from mmdet's keys so this file can sit beside them in _base_.

# 3x multi-scale training with the DETR-style crop augmentation.
_short_edges = [480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800]
ms_crop_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', keep_ratio=True,
              scales=[(1333, s) for s in _short_edges])],
        [dict(type='RandomChoiceResize', keep_ratio=True,
              scales=[(1333, 400), (1333, 500), (1333, 600)]),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
              allow_negative_crop=True),
         dict(type='RandomChoiceResize', keep_ratio=True,
              scales=[(1333, s) for s in _short_edges])],
    ]),
    dict(type='PackDetInputs'),
]

# 36 epochs, lr x0.1 at epochs 27 and 33, 1000 warm-up iterations.
schedule_3x = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=36, milestones=[27, 33], gamma=0.1),
]
