# UperNet + ConvNeXt on ADE20K with 640x640 crops (mmseg's ADE20K base of that size) and
# the official single-scale test: sliding 640x640 windows with stride 426.
_base_ = ['./upernet_convnext.py', 'mmseg::_base_/datasets/ade20k_640x640.py']

crop_size = (640, 640)
model = dict(
    data_preprocessor=dict(size=crop_size),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(426, 426)))
train_dataloader = dict(batch_size=2)  # per GPU
