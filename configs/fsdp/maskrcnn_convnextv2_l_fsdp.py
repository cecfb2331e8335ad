# Mask R-CNN + ConvNeXt V2-L (COCO), the recipe of configs/maskrcnn_convnextv2_l.py trained with FSDP
# (_base_/fsdp.py: FlexibleRunner, one FSDP unit per block). Same model, schedule and
# published values; only how the processes hold the weights changes.
_base_ = ['../maskrcnn_convnextv2_l.py', '../_base_/fsdp.py']
