"""Write the embedded demo data sets (seeded, generated, nothing downloaded).

    python tools/make_demo_data.py coco data/demo_coco [--num-train 400 --num-val 60]
"""
import argparse
import time

from convnext_backbone.data.synthetic_coco import make_coco_demo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('kind', choices=['coco'], help='coco: instance segmentation')
    parser.add_argument('out', help='output folder (the config data_root)')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=60)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 128), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    start = time.time()
    make_coco_demo(args.out, args.num_train, args.num_val, args.seed, tuple(args.size))
    print(f'Wrote {args.num_train} train and {args.num_val} val images with COCO '
          f'annotations to {args.out} in {time.time() - start:.1f} s.')


if __name__ == '__main__':
    main()
