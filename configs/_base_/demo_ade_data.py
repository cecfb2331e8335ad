# The generated ADE20K-layout demo set as the segmentation demos read it, stated once
# (data: python tools/make_demo_data.py ade data/demo_ade): its five classes (label 0 is
# "other", ignored), 128x128 images, the dataloaders (no workers: CPU runs) and mIoU.
# Variables rather than config keys, so that it can be inherited beside mmseg's bases
# (which define the dataloaders themselves): upernet_convnext_demo.py and
# mask2former_convnext_demo.py assign them.
demo_classes = ('sky', 'ground', 'disc', 'box', 'triangle')
demo_palette = [[70, 130, 220], [120, 160, 60], [220, 60, 60], [230, 200, 50],
                [150, 70, 200]]
demo_crop_size = (128, 128)
demo_dataset = dict(type='BaseSegDataset', data_root='data/demo_ade', img_suffix='.jpg',
                    seg_map_suffix='.png', reduce_zero_label=True,
                    metainfo=dict(classes=demo_classes, palette=demo_palette))
demo_train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**demo_dataset,
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='LoadAnnotations', reduce_zero_label=True),
                           dict(type='RandomFlip', prob=0.5),
                           dict(type='PackSegInputs')],
                 data_prefix=dict(img_path='images/training',
                                  seg_map_path='annotations/training')))
demo_val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**demo_dataset,
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='LoadAnnotations', reduce_zero_label=True),
                           dict(type='PackSegInputs')],
                 data_prefix=dict(img_path='images/validation',
                                  seg_map_path='annotations/validation')))
demo_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
