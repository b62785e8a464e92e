import keras
import pytest

from dnnsteps import models, receptive_field
from dnnsteps.errors import DnnstepsError

L = keras.layers


def seq(*layers, size=28):
    return keras.Sequential([keras.Input((size, size, 1)), *layers])


def rfs(model):
    return [(r.rf, r.jump) for r in receptive_field.receptive_fields(model)[1:]]


def test_3x3_stack_grows_by_two():
    model = seq(L.Conv2D(4, 3), L.Conv2D(4, 3), L.Conv2D(4, 3))
    assert rfs(model) == [(3, 1), (5, 1), (7, 1)]


def test_max_pool_doubles_the_jump_not_the_field():
    model = seq(
        L.Conv2D(4, 3), L.Conv2D(4, 3), L.MaxPooling2D(2), L.Conv2D(4, 3), L.Conv2D(4, 3)
    )
    assert rfs(model) == [(3, 1), (5, 1), (6, 2), (10, 2), (14, 2)]
    rows = receptive_field.receptive_fields(model)
    assert "shortcut 'pooling doubles RF' says 10, formula gives 6" in rows[3].note


def test_stride_and_dilation():
    strided = seq(L.Conv2D(4, 3, strides=2), L.Conv2D(4, 3))
    assert rfs(strided) == [(3, 2), (7, 2)]
    dilated = seq(L.Conv2D(4, 3, dilation_rate=2), L.Conv2D(4, 3, dilation_rate=2))
    assert rfs(dilated) == [(5, 1), (9, 1)]


def test_padding_bn_dropout_activation_leave_the_field_alone():
    model = seq(
        L.ZeroPadding2D(1),
        L.Conv2D(4, 3),
        L.BatchNormalization(),
        L.ReLU(),
        L.Dropout(0.1),
        L.AveragePooling2D(2),
        L.DepthwiseConv2D(3),
    )
    assert rfs(model) == [(1, 1), (3, 1), (3, 1), (3, 1), (3, 1), (4, 2), (8, 2)]


def test_preprocessing_passes_through_and_stays_out_of_the_table():
    plain = [L.Conv2D(4, 3), L.MaxPooling2D(2), L.Conv2D(4, 3)]
    model = seq(
        L.Rescaling(1 / 255, offset=-0.5), L.Normalization(mean=0.0, variance=1.0), *plain
    )
    assert rfs(model) == [(1, 1), (1, 1), (3, 1), (4, 2), (8, 2)]
    assert receptive_field.table(model) == receptive_field.table(seq(*plain))


def test_global_pooling_sees_the_whole_map():
    model = seq(L.Conv2D(4, 3), L.GlobalAveragePooling2D(), size=8)
    assert rfs(model)[-1] == (8, 6)


def test_dnn8_output_sees_the_whole_digit():
    assert receptive_field.final_receptive_field(models.build("dnn8")) == 28


def test_table_uses_the_course_notation():
    lines = receptive_field.table(models.build("dnn1"))
    assert lines[1].split() == "26x26x16 | (3x3x16)x32 | 24x24x32 | RF 5x5".split()
    assert lines[2].split()[:5] == "24x24x32 | max-pool 2x2 |".split()
    assert lines[-1].split() == "6x6x10 | (6x6x10)x10 | 1x1x10 | RF 28x28".split()
    assert len(lines) == 9  # 8 convolutions and the pool; Rescaling, BN, ReLU left out


def test_vgg16_matches_the_published_value():
    model = keras.applications.VGG16(
        weights=None, include_top=False, input_shape=(224, 224, 3)
    )
    rows = {r.name: r for r in receptive_field.receptive_fields(model)}
    assert rows["block5_conv3"].rf == 196 and rows["block5_pool"].rf == 212
    assert rows["block5_pool"].jump == 32


def test_resnet50_branches_take_the_largest_field():
    model = keras.applications.ResNet50(
        weights=None, include_top=False, input_shape=(224, 224, 3)
    )
    rows = receptive_field.receptive_fields(model)
    assert rows[-1].rf == 483 and rows[-1].jump == 32


def test_unknown_layer_is_named():
    model = seq(L.Conv2D(4, 3), L.UpSampling2D(2))
    with pytest.raises(DnnstepsError, match="cannot reason about layer 'up_sampling2d"):
        receptive_field.receptive_fields(model)
