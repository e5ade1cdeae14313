import json
import math

import numpy as np
import pytest
import torch

from fastpix.metrics import ConfusionMatrix, fcn_score


def _scores_numpy(hist):
    """pix2pix scripts/eval_cityscapes get_scores, written out with numpy."""
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.diag(hist).sum() / hist.sum()
        cls_acc = np.nanmean(np.diag(hist) / hist.sum(axis=1))
        iou = np.diag(hist) / (hist.sum(axis=1) + hist.sum(axis=0) - np.diag(hist))
    return acc, cls_acc, np.nanmean(iou), iou


def test_hand_computed_three_classes():
    # target: 0 0 0 1 1 2 ; pred: 0 0 1 1 2 2
    target = torch.tensor([0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 0, 1, 1, 2, 2])
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    expected = torch.tensor([[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert torch.equal(cm.matrix[:, :3], expected)
    s = cm.compute()
    assert s["pixel_acc"] == pytest.approx(4 / 6)
    assert s["class_acc"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # IoU: class0 2/(3+2-2)=2/3, class1 1/(2+2-1)=1/3, class2 1/(1+2-1)=1/2
    assert s["iou"] == pytest.approx([2 / 3, 1 / 3, 1 / 2])
    assert s["miou"] == pytest.approx((2 / 3 + 1 / 3 + 1 / 2) / 3)


def test_against_pix2pix_formulas_random():
    g = torch.Generator().manual_seed(0)
    k = 19
    cm = ConfusionMatrix(k)
    hist = np.zeros((k, k))
    for _ in range(3):
        target = torch.randint(0, k + 3, (2, 17, 23), generator=g)
        target[target >= k] = 255
        pred = torch.randint(0, k, (2, 17, 23), generator=g)
        cm.update(pred, target)
        t, p = target.numpy().ravel(), pred.numpy().ravel()
        keep = (t >= 0) & (t < k)
        hist += np.bincount(k * t[keep] + p[keep], minlength=k * k).reshape(k, k)
    acc, cls_acc, miou, iou = _scores_numpy(hist)
    s = cm.compute()
    assert s["pixel_acc"] == pytest.approx(acc)
    assert s["class_acc"] == pytest.approx(cls_acc)
    assert s["miou"] == pytest.approx(miou)
    np.testing.assert_allclose(s["iou"], iou)


def test_absent_class_is_nan_and_skipped():
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    s = cm.compute()
    assert math.isnan(s["iou"][2]) and math.isnan(s["acc"][2])
    assert s["miou"] == 1.0 and s["class_acc"] == 1.0


def test_predicted_but_absent_class_has_zero_iou():
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor([0, 2]), torch.tensor([0, 1]))
    s = cm.compute()
    assert s["iou"] == [1.0, 0.0, 0.0]
    assert s["miou"] == pytest.approx(1 / 3)


def test_all_ignore_gives_nan_not_crash():
    cm = ConfusionMatrix(4)
    cm.update(torch.zeros(5, dtype=torch.long), torch.full((5,), 255))
    s = cm.compute()
    assert s["pixels"] == 0 and math.isnan(s["pixel_acc"]) and math.isnan(s["miou"])
    assert json.loads(cm.to_json())["miou"] is None


def test_out_of_range_prediction_counts_as_miss():
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([255, 1]), torch.tensor([0, 1]))
    s = cm.compute()
    assert s["pixel_acc"] == 0.5
    assert s["iou"] == [0.0, 1.0]


def test_shape_and_dtype_errors():
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError, match="does not match"):
        cm.update(torch.zeros(3, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        cm.update(torch.zeros(3), torch.zeros(3, dtype=torch.long))


def test_table_names_classes():
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    table = cm.table(["road", "sky"])
    assert "| road | 1.0000 | 1.0000 |" in table and "| sky |" in table


def test_fcn_score_runs_segmenter():
    labels = torch.tensor([[[0, 1], [1, 1]]])
    photos = torch.zeros(1, 3, 2, 2)

    def segmenter(x):  # predicts class 1 everywhere, as logits
        out = torch.zeros(x.shape[0], 2, *x.shape[-2:])
        out[:, 1] = 1
        return out

    s = fcn_score(segmenter, [(photos, labels)], num_classes=2)
    assert s["pixel_acc"] == 0.75
    assert s["iou"] == [0.0, 0.75]
