import pytest

from dnnsteps import schedules
from dnnsteps.errors import DnnstepsError as ConfigError


def test_course_inverse_time_decay_values():
    lr = schedules.inverse_time(0.003, 0.319)
    assert lr(0) == 0.003
    assert lr(1) == 0.0022744503
    assert lr(19) == 0.000424869


def test_one_cycle_warms_up_peaks_and_anneals():
    lr = schedules.one_cycle(0.01, epochs=12, warmup=0.25)
    values = [lr(e) for e in range(12)]
    assert values[0] == pytest.approx(0.001)
    assert max(values) == pytest.approx(0.01) and values.index(max(values)) == 3
    assert all(a >= b for a, b in zip(values[3:], values[4:]))
    assert values[-1] == pytest.approx(0.0001)


def test_table():
    lr = schedules.inverse_time(0.003, decay=0.319)
    assert schedules.table(lr, 2) == [(0, 0.003), (1, 0.0022744503)]
    assert schedules.constant(0.001)(4) == 0.001


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: schedules.inverse_time(-1), "lr0 must be a positive number"),
        (lambda: schedules.inverse_time(0.003, decay=-0.1), "decay must be a number >= 0"),
        (lambda: schedules.one_cycle(0.01, epochs=0), "epochs must be an integer >= 1"),
        (lambda: schedules.one_cycle(0.01, warmup=1.5), r"warmup must be a fraction"),
        (lambda: schedules.constant(0.001)(-1), "epoch must be an integer >= 0"),
    ],
)
def test_bad_arguments_say_what_is_wrong(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_one_cycle_tail_holds_the_floor_for_the_last_epochs():
    lr = schedules.one_cycle(0.01, 15, tail=3)
    rates = [lr(e) for e in range(15)]
    assert rates[11:] == [pytest.approx(0.0001)] * 4  # the cycle ends at epoch 12
    assert max(rates) == pytest.approx(0.01) and rates[0] == pytest.approx(0.001)
    short = schedules.one_cycle(0.01, 2, tail=3)  # a 2-epoch smoke run still works
    assert [short(e) for e in range(2)] == [pytest.approx(0.001)] * 2
    with pytest.raises(ConfigError, match="tail must be an integer >= 0"):
        schedules.one_cycle(0.01, 15, tail=-1)
