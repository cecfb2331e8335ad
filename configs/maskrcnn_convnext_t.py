# Mask R-CNN + FPN, ConvNeXt-T (ImageNet-1k), COCO 2017, 3x multi-scale with the DETR-style
# crop augmentation (36 epochs): the published recipe (configs/metafile.yml). Everything
# else as in maskrcnn_convnext_t_1x.py.
_base_ = ['./maskrcnn_convnext_t_1x.py', './_base_/convnext_det_3x_recipe.py']

train_dataloader = dict(dataset=dict(pipeline={{_base_.ms_crop_train_pipeline}}))
train_cfg = dict(max_epochs=36)
param_scheduler = {{_base_.schedule_3x}}
