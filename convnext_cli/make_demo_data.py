"""Write the embedded demo data sets (seeded, generated, nothing downloaded).

    python tools/make_demo_data.py coco data/demo_coco [--num-train 400 --num-val 60]
    python tools/make_demo_data.py ade data/demo_ade [--num-train 300 --num-val 50]
"""
import argparse
import time

from .demo_data.ade import make_ade_demo
from .demo_data.coco import make_coco_demo

DEFAULT_COUNTS = {'coco': (400, 60), 'ade': (300, 50)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('kind', choices=['coco', 'ade'],
                        help='coco: instance segmentation (COCO layout); ade: semantic '
                             'segmentation (ADE20K layout)')
    parser.add_argument('out', help='output folder (the config data_root)')
    parser.add_argument('--num-train', type=int)
    parser.add_argument('--num-val', type=int)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 128), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    num_train = args.num_train or DEFAULT_COUNTS[args.kind][0]
    num_val = args.num_val or DEFAULT_COUNTS[args.kind][1]
    make = make_coco_demo if args.kind == 'coco' else make_ade_demo
    start = time.time()
    make(args.out, num_train, num_val, args.seed, tuple(args.size))
    print(f'Wrote {num_train} training and {num_val} held-out images ({args.kind} layout) '
          f'to {args.out} in {time.time() - start:.1f} s.')


if __name__ == '__main__':
    main()
