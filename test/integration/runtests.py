"""Run the named test modules and end with a 'N passed, N failed' line,
after the seconds each module took (slowest first), so that what makes
`make test` long is visible in its log."""
import collections
import sys
import time
import unittest


class TimedResult(unittest.TextTestResult):
    seconds = collections.Counter()
    tests = collections.Counter()

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        took = time.monotonic() - self._started
        TimedResult.seconds[type(test).__module__] += took
        TimedResult.tests[test.id()] += took


suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:])
result = unittest.TextTestRunner(verbosity=2, resultclass=TimedResult).run(suite)
print("seconds per module: " + ", ".join("%s %.0f" % (m, s)
                                         for m, s in TimedResult.seconds.most_common()))
print("slowest tests: " + ", ".join("%s %.1f" % (t.split(".", 1)[1], s)
                                    for t, s in TimedResult.tests.most_common(8)))
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
print("integration: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
