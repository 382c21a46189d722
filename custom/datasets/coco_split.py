"""A seeded train/val split of one COCO file, stratified by class where it can be.

Every image goes to one split with all its annotations. An image's stratum is the rarest
class among its boxes (counted in images over the whole file), so a class seen in a few
images still reaches the val set in proportion; images without boxes form a stratum of
their own and are kept, split in proportion too. Each stratum is shuffled with the seed and
its share of val images taken by largest remainder, so the val set has exactly
``round(fraction * images)`` images. A class in one image only cannot be in both splits: it
goes where its stratum's remainder sends it.
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict

from custom.core.errors import InputError

__all__ = ['split_coco', 'split_counts']


def split_coco(data: dict, val_fraction: float, seed: int = 0,
               name: str = 'the COCO file') -> tuple[dict, dict]:
    """(train, val) COCO dicts; the other top-level keys (info, licenses, categories) are
    copied to both.

    Args:
        data (dict): A COCO detection file.
        val_fraction (float): Share of the images that goes to val, in (0, 1).
        seed (int): Seed of the shuffle. Defaults to 0.
        name (str): How errors name the file.

    Raises:
        InputError: no images, a fraction outside (0, 1), or too few images for two
            non-empty splits.
    """
    if not 0 < val_fraction < 1:
        raise InputError(f'--val-fraction: must be in (0, 1), got {val_fraction}')
    images = data.get('images') if isinstance(data, dict) else None
    if not isinstance(images, list) or not isinstance(data.get('annotations'), list):
        raise InputError(f"{name}: not a COCO file (needs lists 'images' and 'annotations')")
    if not images:
        raise InputError(f'{name}: no images to split')
    num_val = round(val_fraction * len(images))
    if not 0 < num_val < len(images):
        raise InputError(f'{name}: {len(images)} image(s) cannot be split {1 - val_fraction:g}'
                         f'/{val_fraction:g} with both splits non-empty')
    classes_of = defaultdict(set)
    for ann in data['annotations']:
        classes_of[ann['image_id']].add(ann['category_id'])
    images_per_class = Counter(c for classes in classes_of.values() for c in classes)
    strata = defaultdict(list)
    for image in images:
        classes = classes_of.get(image['id'])
        # rarest class first; ties by id so the strata do not depend on set order
        key = min(classes, key=lambda c: (images_per_class[c], c)) if classes else None
        strata[key].append(image['id'])
    rng = random.Random(seed)
    shares = {}
    for key in sorted(strata, key=lambda k: (k is None, k)):
        rng.shuffle(strata[key])
        shares[key] = val_fraction * len(strata[key])
    counts = {key: int(share) for key, share in shares.items()}
    by_remainder = sorted(shares, key=lambda k: (-(shares[k] - counts[k]), k is None, k or 0))
    for key in by_remainder[:num_val - sum(counts.values())]:
        counts[key] += 1
    val_ids = {image_id for key, ids in strata.items() for image_id in ids[:counts[key]]}

    def subset(in_val: bool) -> dict:
        ids = {image['id'] for image in images if (image['id'] in val_ids) == in_val}
        return dict(data, images=[image for image in images if image['id'] in ids],
                    annotations=[a for a in data['annotations'] if a['image_id'] in ids])

    return subset(False), subset(True)


def split_counts(data: dict) -> dict:
    """Images, images without boxes, boxes, and boxes per category name of a COCO dict."""
    names = {cat['id']: cat['name'] for cat in data.get('categories', [])}
    with_boxes = {ann['image_id'] for ann in data['annotations']}
    per_class = Counter(names.get(ann['category_id'], str(ann['category_id']))
                        for ann in data['annotations'])
    return dict(images=len(data['images']),
                empty=sum(image['id'] not in with_boxes for image in data['images']),
                boxes=len(data['annotations']),
                per_class={name: per_class.get(name, 0) for name in names.values()})
