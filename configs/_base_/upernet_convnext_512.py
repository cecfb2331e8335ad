# UperNet + ConvNeXt on ADE20K with 512x512 crops (mmseg's ADE20K base of that size) and
# the official single-scale test: sliding 512x512 windows with stride 341.
_base_ = ['./upernet_convnext.py', 'mmseg::_base_/datasets/ade20k.py']

crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))
train_dataloader = dict(batch_size=2)  # per GPU
