"""What the pipeline test modules (test_e2e_chat, test_faults_pipeline) share: reading an event
list, and one class-wide Pipeline that is stopped on a failed start and checked for sanitizer
reports when the class is done."""
import unittest

import pipeline_harness as ph


def kinds(events):
    """The event kinds of [(kind, data), ...], in order."""
    return [e for e, _ in events]


def first(events, kind):
    """The data of the first event of this kind, or None."""
    for e, d in events:
        if e == kind:
            return d
    return None


class PipelineCase(unittest.TestCase):
    """A TestCase whose class owns one ph.Pipeline (cls.pl). Subclasses call start_pipeline()
    from setUpClass; tearDownClass stops it and fails on any ASan/UBSan/LSan report."""

    pl = None

    @classmethod
    def start_pipeline(cls, *args, tools=(), ready=None, **kwargs):
        """Skips the class when the stack or one of the programs in tools is missing; else
        starts ph.Pipeline(*args, **kwargs), then runs ready(pl) (waits, extra tenants). A
        failure on the way stops what started."""
        why = ph.stack_missing()
        if why:
            raise unittest.SkipTest(why)
        for t in tools:
            if not ph.shutil_which(t):
                raise unittest.SkipTest("%s is not installed" % t)
        cls.pl = ph.Pipeline(*args, **kwargs)
        try:
            cls.pl.start()
            if ready:
                ready(cls.pl)
        except BaseException:
            cls.pl.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.pl:
            cls.pl.stop()
            reports = cls.pl.sanitizer_reports()
            assert not reports, "\n".join(reports)
