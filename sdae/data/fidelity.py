"""How close a regenerated set is to the published one: its statistics beside the published facts.

The facts (``PUBLISHED``) were measured on the original 2007 files
(../shared/reference/dataset-facts.md); ``measure(name, splits)`` computes the same figures on
any copy of a set (regenerated, or the originals themselves when at hand), and ``report`` sets
them side by side, each with the published figure and, where the facts also measured the
regenerated version 3, that figure as a check of this module's definitions.

Measures of a binary 28x28 image (pixels 0 or 1), per class:

- ``area``: white pixels (mean, median, 10% quantile, min, max); ``exactly_20`` and
  ``full_white``: the fraction of images with exactly 20 and with 784 white pixels;
- ``components``: 8-connected components of the white pixels (fraction with 1, 2, 3, 4+);
- ``solidity``: white pixels over the pixels of their convex hull image (quantiles 10/25/50/75/90,
  fraction above 0.9); ``hull_minus_area``: hull pixels minus white pixels (median);
- ``no_border``: the fraction of images whose white pixels touch none of the four borders;
  ``no_white_corner``: none of the four image corners is white;
- ``hull_sides``: corners of the convex hull's outline polygon (``HULL_TOLERANCE``; mean;
  ``triangles``: the fraction with 3), ``centroid_offset``: distance (pixels) from the white pixels' centroid to
  the image centre (median);
- ``mean_image``: the class's mean image at the centre (the 4 middle pixels), on the edges
  (the border pixels but the corners) and in the 4 corners.

Rectangles (outline images): ``height`` / ``width`` (outer extent: range), the smallest
``|height - width|``, ``top`` / ``left`` (range), pixels on (mean), and ``pixel_values`` (the
distinct values, 0 and 1 expected).

Rectangles-images: nothing was measured on the published files, so the figures beside ours are
the facts' *leads* (``LEADS``: area between about a quarter and three quarters of the image,
sides >= ~10 pixels differing by >= ~5; unverified). A patch over a patch has no binary
outline to read the rectangle from, so a regenerated set's rectangles are replayed from its
seed and version (``rectangles.boxes_of``; checked against the labels):
``area`` (height x width, outer extent: min, max, mean, median, and as a fraction of the 784
pixels), ``short_side`` / ``long_side`` (range), the smallest ``|height - width|``,
``area_histogram`` (fractions in 8 bins of 98 pixels, an eighth of the image each) and
``short_side_histogram`` (fractions per shorter side); from the pixels alone (any copy):
``pixel_mean`` and the label balance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

QUANTILES = (10, 25, 50, 75, 90)

# The published figures (dataset-facts.md), keyed "class/measure" (class: the label, or "all");
# a pair is (published, regenerated v3 as the facts measured it, or None).
PUBLISHED: dict[str, dict[str, tuple[Any, Any]]] = {
    "convex": {
        "all/label_1_fraction_train": (4011 / 8000, None),
        "0/area_mean": (304, None), "1/area_mean": (299, None),
        "0/area_median": (251, None), "1/area_median": (249, None),
        "0/area_min": (21, None), "1/area_min": (20, None),
        "0/area_max": (783, None), "1/area_max": (784, None),
        "1/area_q10": (29, 42),
        "1/exactly_20": (432 / 25000, None),
        "1/full_white": (0.0022, 0.0223),
        "0/components_1": (0.414, None), "0/components_2": (0.424, None),
        "0/components_3": (0.138, None), "0/components_4+": (0.024, None),
        "1/components_1": (0.999, None),
        "0/solidity_q10": (0.32, None), "0/solidity_q25": (0.48, None),
        "0/solidity_q50": (0.72, 0.69), "0/solidity_q75": (0.90, None),
        "0/solidity_q90": (0.96, None),
        "1/solidity_q10": (0.89, None), "1/solidity_q25": (0.93, None),
        "1/solidity_q50": (0.96, None), "1/solidity_q75": (0.98, None),
        "1/solidity_q90": (0.99, None),
        "0/solidity_above_0.9": (0.237, None), "1/solidity_above_0.9": (0.881, None),
        "1/no_border": (0.159, 0.012), "0/no_border": (0.117, 0.050),
        "1/no_white_corner": (0.44, 0.14),
        "1/hull_sides_mean": (4.9, 4.2), "1/triangles": (0.05, 0.23),
        "1/centroid_offset_median": (6.4, 8.7),
        "1/mean_image_centre": (0.51, 0.39), "1/mean_image_edges": (0.29, 0.39),
        "1/mean_image_corners": (0.24, 0.39),
        "0/hull_minus_area_median": (79, 93),
    },
    "rectangles": {
        "all/label_1_fraction_train": (611 / 1200, None),
        "all/pixel_values": ([0.0, 1.0], None),
        "all/height_min": (4, None), "all/height_max": (28, None),
        "all/width_min": (4, None), "all/width_max": (28, None),
        "all/abs_height_minus_width_min": (3, None),
        "all/top_max": (24, None), "all/left_max": (23, None),
        "all/pixels_on_mean": (59, None),
    },
}


#: Leads, not facts: what dataset-facts.md suggests of rectangles-images ("leads only, to verify
#: by calibration"); the report prints them in the published column, marked as leads.
PUBLISHED["rectangles_images"] = {
    "all/area_fraction_min": (0.25, None), "all/area_fraction_max": (0.75, None),
    "all/short_side_min": (10, None), "all/abs_height_minus_width_min": (5, None),
}
LEADS = ("rectangles_images",)
AREA_BINS = tuple(range(0, 785, 98))  # 8 bins of an eighth of the image


def _binary(x: np.ndarray) -> np.ndarray:
  return np.asarray(x).reshape(len(x), 28, 28) > 0.5


#: Douglas-Peucker tolerance (pixels) of the hull polygon whose corners ``hull_sides`` counts.
#: The facts do not say how they counted sides; at 1.5 this module gives, on the regenerated
#: version 3, the facts' own figures for it (mean 4.17 and 24% triangles, against 4.2 and 23%),
#: where the raw hull of the pixel centres counts every step of a slanted edge (6.2, 2%).
HULL_TOLERANCE = 1.5


def _hull_sides(hull: np.ndarray) -> int:
  """Corners of the polygon that outlines a convex hull image (the image border closes it),
  simplified at ``HULL_TOLERANCE``."""
  from skimage.measure import approximate_polygon, find_contours  # pylint: disable=g-import-not-at-top
  contours = find_contours(np.pad(hull, 1).astype(np.float64), 0.5)
  if not contours:
    return 0
  return len(approximate_polygon(max(contours, key=len), tolerance=HULL_TOLERANCE)) - 1


def shape_measures(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
  """The convex-set measures (module docstring) of [n, 784] 0/1 images with labels [n], as
  ``{"<class>/<measure>": value}``."""
  from skimage.measure import label  # pylint: disable=g-import-not-at-top
  from skimage.morphology import convex_hull_image  # pylint: disable=g-import-not-at-top
  imgs, y = _binary(x), np.asarray(y)
  areas = imgs.sum((1, 2))
  n = len(imgs)
  comps, hull = np.zeros(n, np.int64), np.zeros(n, np.int64)
  sides, offset = np.zeros(n, np.int64), np.zeros(n)
  for i, img in enumerate(imgs):
    if not areas[i]:
      continue
    comps[i] = label(img, connectivity=2).max()
    hull_img = convex_hull_image(img)
    hull[i] = hull_img.sum()
    sides[i] = _hull_sides(hull_img)
    cy, cx = np.argwhere(img).mean(0)
    offset[i] = np.hypot(cy - 13.5, cx - 13.5)
  border = imgs[:, 0, :].any(1) | imgs[:, -1, :].any(1) | imgs[:, :, 0].any(1) \
      | imgs[:, :, -1].any(1)
  corner = imgs[:, 0, 0] | imgs[:, 0, -1] | imgs[:, -1, 0] | imgs[:, -1, -1]
  edge_mask = np.zeros((28, 28), bool)
  edge_mask[[0, -1], :] = edge_mask[:, [0, -1]] = True
  corner_mask = np.zeros((28, 28), bool)
  corner_mask[[0, 0, -1, -1], [0, -1, 0, -1]] = True
  edge_mask &= ~corner_mask
  out: dict[str, Any] = {"all/n": n, "all/label_1_fraction_train": float((y == 1).mean())}
  for c in np.unique(y):
    m = y == c
    a, k = areas[m], comps[m]
    solid = np.where(hull[m] > 0, a / np.maximum(hull[m], 1), 0.0)
    mean = imgs[m].mean(0)
    p = f"{int(c)}/"
    out.update({
        p + "n": int(m.sum()), p + "area_mean": float(a.mean()),
        p + "area_median": float(np.median(a)), p + "area_q10": float(np.percentile(a, 10)),
        p + "area_min": int(a.min()), p + "area_max": int(a.max()),
        p + "exactly_20": float((a == 20).mean()), p + "full_white": float((a == 784).mean()),
        p + "components_1": float((k == 1).mean()), p + "components_2": float((k == 2).mean()),
        p + "components_3": float((k == 3).mean()), p + "components_4+": float((k >= 4).mean()),
        **{p + f"solidity_q{q}": float(v)
           for q, v in zip(QUANTILES, np.percentile(solid, QUANTILES))},
        p + "solidity_above_0.9": float((solid > 0.9).mean()),
        p + "hull_minus_area_median": float(np.median(hull[m] - a)),
        p + "no_border": float((~border[m]).mean()),
        p + "no_white_corner": float((~corner[m]).mean()),
        p + "hull_sides_mean": float(sides[m].mean()),
        p + "triangles": float((sides[m] == 3).mean()),
        p + "centroid_offset_median": float(np.median(offset[m])),
        p + "mean_image_centre": float(mean[13:15, 13:15].mean()),
        p + "mean_image_edges": float(mean[edge_mask].mean()),
        p + "mean_image_corners": float(mean[corner_mask].mean()),
    })
  return out


def rectangle_measures(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
  """The rectangles measures (module docstring) of [n, 784] outline images."""
  imgs = _binary(x)
  rows, cols = imgs.any(2), imgs.any(1)
  n = len(imgs)
  top = rows.argmax(1)
  left = cols.argmax(1)
  height = 28 - rows[:, ::-1].argmax(1) - top
  width = 28 - cols[:, ::-1].argmax(1) - left
  return {"all/n": n, "all/label_1_fraction_train": float((np.asarray(y) == 1).mean()),
          "all/pixel_values": sorted(float(v) for v in np.unique(np.asarray(x))),
          "all/height_min": int(height.min()), "all/height_max": int(height.max()),
          "all/width_min": int(width.min()), "all/width_max": int(width.max()),
          "all/abs_height_minus_width_min": int(np.abs(height - width).min()),
          "all/top_max": int(top.max()), "all/left_max": int(left.max()),
          "all/pixels_on_mean": float(imgs.sum((1, 2)).mean())}


def box_measures(h: np.ndarray, w: np.ndarray) -> dict[str, Any]:
  """Rectangles-images' size measures (module docstring) of rectangles with outer heights ``h``
  and widths ``w``."""
  h, w = np.asarray(h), np.asarray(w)
  a, short, long_ = h * w, np.minimum(h, w), np.maximum(h, w)
  hist = np.histogram(a, bins=AREA_BINS)[0] / len(a)
  sides = np.bincount(short, minlength=29)[1:29] / len(a)
  return {"all/area_min": int(a.min()), "all/area_max": int(a.max()),
          "all/area_mean": float(a.mean()), "all/area_median": float(np.median(a)),
          "all/area_fraction_min": float(a.min() / 784),
          "all/area_fraction_max": float(a.max() / 784),
          "all/short_side_min": int(short.min()), "all/short_side_max": int(short.max()),
          "all/long_side_min": int(long_.min()), "all/long_side_max": int(long_.max()),
          "all/abs_height_minus_width_min": int(np.abs(h - w).min()),
          "all/area_histogram": {f"{lo}-{hi - 1}": float(f)
                                 for lo, hi, f in zip(AREA_BINS, AREA_BINS[1:], hist)},
          "all/short_side_histogram": {str(k): float(f)
                                       for k, f in enumerate(sides, 1) if f > 0}}


def rect_img_measures(x: np.ndarray, y: np.ndarray, boxes=None) -> dict[str, Any]:
  """Rectangles-images' measures of [n, 784] images: the pixel ones always, the size ones when
  ``boxes`` (``(top, left, height, width)`` of the same n images) are given."""
  out = {"all/n": len(x), "all/label_1_fraction_train": float((np.asarray(y) == 1).mean()),
         "all/pixel_mean": float(np.asarray(x).mean())}
  if boxes is not None:
    out.update(box_measures(boxes[2], boxes[3]))
  return out


def _rect_img_boxes(splits: dict, seed: int, n: int):
  """The rectangles of a regenerated rect-img's train then valid rows (the first ``n``), replayed
  from its seed and data version; None for the published files (no version) or when the
  replayed boxes do not give the set's labels (another seed or sizes)."""
  version = getattr(splits, "data_version", None)
  if version is None:
    return None
  from sdae.data import regenerate  # pylint: disable=g-import-not-at-top
  from sdae.data.regenerate import rectangles  # pylint: disable=g-import-not-at-top
  total = sum(len(splits[s][1]) for s in ("train", "valid", "test"))
  boxes = rectangles.boxes_of(regenerate.rng_for("rectangles_images", seed), total, version)
  boxes = tuple(b[:n] for b in boxes)
  y = np.concatenate([splits["train"][1], splits["valid"][1]])[:n]
  if not np.array_equal(y, (boxes[2] > boxes[3]).astype(y.dtype)):
    return None
  return boxes


MEASURES = {"convex": shape_measures, "rectangles": rectangle_measures,
            "rectangles_images": rect_img_measures}


def measure(name: str, splits: dict, n: int = 6000, seed: int = 0) -> dict[str, Any]:
  """The measures of ``splits`` (``sdae.data.load``'s dict) for set ``name`` (``MEASURES``):
  the training split and validation together (as the published train file), except the label
  balance, taken on the training split alone; at most ``n`` images. ``seed``: the regenerated
  set's (rect-img replays its rectangles from it)."""
  if name not in MEASURES:
    raise ValueError(f"no fidelity measures for {name!r}; accepted: {', '.join(MEASURES)}")
  x = np.concatenate([splits["train"][0], splits["valid"][0]])[:n]
  y = np.concatenate([splits["train"][1], splits["valid"][1]])[:n]
  if name == "rectangles_images":
    out = rect_img_measures(x, y, _rect_img_boxes(splits, seed, len(x)))
  else:
    out = MEASURES[name](x, y)
  out["all/label_1_fraction_train"] = float((np.asarray(splits["train"][1]) == 1).mean())
  return out


def _fmt(v: Any) -> str:
  if v is None:
    return "-"
  if isinstance(v, float):
    return f"{v:.3g}"
  return str(v)


def report(name: str, ours: dict[str, Any], label: str = "ours") -> tuple[str, list[dict]]:
  """(a markdown table, its rows): every published figure of ``name`` beside ours, with the
  difference (ours - published) where both are numbers."""
  rows = []
  published_label = "leads (unverified)" if name in LEADS else "published"
  for key, (published, v3) in PUBLISHED.get(name, {}).items():
    got = ours.get(key)
    diff = (got - published if isinstance(got, (int, float)) and
            isinstance(published, (int, float)) else None)
    rows.append({"measure": key, "published": published, "ours": got,
                 "difference": diff, "regenerated_v3_in_facts": v3})
  lines = [f"| {name}: measure | {published_label} | {label} | difference | v3 per the facts |",
           "| --- | --- | --- | --- | --- |"]
  lines += [f"| {r['measure']} | {_fmt(r['published'])} | {_fmt(r['ours'])} "
            f"| {_fmt(r['difference'])} | {_fmt(r['regenerated_v3_in_facts'])} |" for r in rows]
  for key in ("all/area_mean", "all/area_median", "all/short_side_max", "all/long_side_min",
              "all/long_side_max", "all/pixel_mean"):
    if name in LEADS and key in ours:
      lines.append(f"| {key} | - | {_fmt(ours[key])} | - | - |")
  for key, what in (("all/area_histogram", "area (px)"),
                    ("all/short_side_histogram", "shorter side (px)")):
    if isinstance(ours.get(key), dict):
      lines += ["", f"| {name}: {what} | " + " | ".join(ours[key]) + " |",
                "| --- |" + " ---: |" * len(ours[key]),
                "| fraction | " + " | ".join(f"{v:.3f}" for v in ours[key].values()) + " |"]
  return "\n".join(lines), rows


def write_report(workdir: str, name: str, splits: dict, source: str, n: int = 6000,
                 seed: int = 0) -> dict:
  """Measures ``splits`` of set ``name`` against the published facts and writes
  ``workdir/data_report_<name>.md`` / ``.json`` and ``preview_<name>.png`` (+ PDF: eight
  examples and the mean image of each class). Returns the JSON's content (with the data
  version of a regenerated set, ``splits.data_version``)."""
  import os  # pylint: disable=g-import-not-at-top
  from sdae import viz  # pylint: disable=g-import-not-at-top
  from sdae.io import files as fileio  # pylint: disable=g-import-not-at-top
  ours = measure(name, splits, n, seed)
  version = getattr(splits, "data_version", None)
  out = {"dataset": name, "data_source": source, "data_version": version,
         "n_measured": int(ours["all/n"])}
  source = f"{source} v{version}" if version is not None else source
  table, rows = report(name, ours, label=source)
  out.update(measures=ours, rows=rows)
  os.makedirs(workdir, exist_ok=True)
  if name in LEADS:
    head = (f"# {name}: {source} data against the facts' leads\n\n"
            f"{ours['all/n']} images (train then valid). Nothing of this set was measured on the "
            "published files: the second column holds the leads of "
            "../shared/reference/dataset-facts.md, unverified (to verify by calibration). The "
            "rectangles' sizes are replayed from the seed and version (none for the published "
            "files).\n\n")
  else:
    head = (f"# {name}: {source} data against the published files' facts\n\n"
            f"{ours['all/n']} images (train then valid). 'v3 per the facts' is what "
            "../shared/reference/dataset-facts.md measured on the regenerated version 3, a check "
            "of these measures' definitions.\n\n")
  fileio.write_text(os.path.join(workdir, f"data_report_{name}.md"), head + table + "\n")
  fileio.write_json(os.path.join(workdir, f"data_report_{name}.json"), out)
  x, y = (np.asarray(a) for a in splits["train"])
  classes = np.unique(y)
  rows_img = [(f"class {int(c)}", x[y == c][:8]) for c in classes]
  means = np.full((8, x.shape[1]), 0.5, np.float32)  # grey where there is no class
  means[:len(classes)] = [x[y == c].mean(0) for c in classes]
  rows_img.append(("class means", means))
  viz.save_rows(rows_img, os.path.join(workdir, f"preview_{name}.png"),
                f"{name} ({source}): examples of each class, then each class's mean image "
                f"({', '.join(str(int(c)) for c in classes)})", cols=8)
  return out
