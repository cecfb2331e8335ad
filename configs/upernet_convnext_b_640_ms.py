# upernet_convnext_b_640.py evaluated multi-scale (ratios 0.5-1.75) with flip, through mmseg's SegTTAModel:
#   python tools/test.py configs/upernet_convnext_b_640_ms.py CHECKPOINT
_base_ = './upernet_convnext_b_640.py'

# As the official _ms configs: whole images at each scale (the _ss twin, this config's
# base, slides windows).
model = dict(_delete_=True, type='SegTTAModel',
             module=dict(_base_.model, test_cfg=dict(mode='whole')))
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
