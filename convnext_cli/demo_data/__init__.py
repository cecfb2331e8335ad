"""The embedded demo data sets: seeded, generated, nothing downloaded.

``coco`` (instance segmentation, needs pycocotools), ``ade`` (semantic segmentation) and
``drawing`` (the shapes and textures both draw, and the feature-extraction picture). The
submodules are imported where used, so the light ones need no pycocotools.
"""
