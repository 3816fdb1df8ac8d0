"""nnfilter's exceptions survive pickling: a worker process sends them back inside its outcomes."""

import pickle

from nnfilter import errors
from nnfilter.errors import NnfilterError

#: One instance of every NnfilterError subclass, built as the code builds it.
EXAMPLES = [
    errors.NnfilterError("a.jpg: something"),
    errors.ImageError("a.jpg: not an image"),
    errors.ImageTooLargeError("a.jpg: 200 pixels (20x10) exceeds the limit of 199", 199),
    errors.PairMismatchError("a.png is 40x30 but b.png is 41x30", kind="shapes"),
    errors.PairMismatchError("a.png and b.png do not match"),
    errors.ModelFormatError("m.npz: not an nnfilter model"),
    errors.LutFormatError("l.cube: bad size"),
    errors.TrainingDivergedError("training diverged: the weights blew up", 0.01),
    errors.TrainingDivergedError("training diverged"),
    errors.OutputError("o/a.jpg: cannot write"),
    errors.OutputExistsError("o/a.jpg"),
    errors.PlanError("output o is a file", "output_is_file", output="o"),
    errors.PlanError("no input given", "no_input"),
]


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_class_has_an_example():
    assert {type(e) for e in EXAMPLES} == {NnfilterError, *_subclasses(NnfilterError)}


def test_every_error_round_trips_through_pickle():
    for error in EXAMPLES:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error), type(error).__name__
        assert copy.args == error.args, type(error).__name__
        assert vars(copy) == vars(error), type(error).__name__
