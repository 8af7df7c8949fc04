"""Synthetic DAD-3DHeads-format data: random heads of a FLAME-format model rendered into images with
exact ground truth, written in the real dataset's layout (``trans3dhead synth``, ``docs/synthetic.md``).

Modules: :mod:`.sampling` (random heads, poses, cameras, lights), :mod:`.camera` (model-view and projection
matrices), :mod:`.scene` (backgrounds, occluders, degradations), :mod:`.attributes` (attribute rules),
:mod:`.item` (one item), :mod:`.encoding` / :mod:`.store` (files), :mod:`.generator` (datasets),
:mod:`.gallery` (the documentation figure); :mod:`.motion` and :mod:`.video` make synthetic videos
(``trans3dhead synth --video``).
"""

from trans3dhead.data.synthetic.generator import ItemDone, generate_dataset, generate_item, item_seed
from trans3dhead.data.synthetic.item import MIN_SIZE, HeadSynthesizer, SceneOptions, SyntheticItem
from trans3dhead.data.synthetic.store import DatasetStore, item_id

__all__ = [
    "MIN_SIZE",
    "DatasetStore",
    "HeadSynthesizer",
    "ItemDone",
    "SceneOptions",
    "SyntheticItem",
    "generate_dataset",
    "generate_item",
    "item_id",
    "item_seed",
]
