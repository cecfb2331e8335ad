"""Write the embedded demo data sets (seeded, generated, nothing downloaded).

    python tools/make_demo_data.py coco data/demo_coco [--num-train 400 --num-val 60]
    python tools/make_demo_data.py ade data/demo_ade [--num-train 300 --num-val 50]
    python tools/make_demo_data.py coco_panoptic data/demo_coco_panoptic [...]
"""
import argparse
import time

from .demo_data.ade import make_ade_demo
from .demo_data.coco import make_coco_demo
from .demo_data.coco_panoptic import make_coco_panoptic_demo

#: Each kind's writer and default training / held-out image counts.
KINDS = {'coco': (make_coco_demo, 400, 60), 'ade': (make_ade_demo, 300, 50),
         'coco_panoptic': (make_coco_panoptic_demo, 300, 50)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('kind', choices=sorted(KINDS),
                        help='coco: instance segmentation (COCO layout); ade: semantic '
                             'segmentation (ADE20K layout); coco_panoptic: panoptic '
                             'segmentation (COCO panoptic layout)')
    parser.add_argument('out', help='output folder (the config data_root)')
    parser.add_argument('--num-train', type=int)
    parser.add_argument('--num-val', type=int)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 128), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    make, default_train, default_val = KINDS[args.kind]
    num_train = args.num_train or default_train
    num_val = args.num_val or default_val
    start = time.time()
    make(args.out, num_train, num_val, args.seed, tuple(args.size))
    print(f'Wrote {num_train} training and {num_val} held-out images ({args.kind} layout) '
          f'to {args.out} in {time.time() - start:.1f} s.')


if __name__ == '__main__':
    main()
