# Cascade Mask R-CNN + ConvNeXt-XL (COCO), the recipe of configs/cascade_maskrcnn_convnext_xl.py trained with FSDP
# (_base_/fsdp.py: FlexibleRunner, one FSDP unit per block). Same model, schedule and
# published values; only how the processes hold the weights changes.
_base_ = ['../cascade_maskrcnn_convnext_xl.py', '../_base_/fsdp.py']
