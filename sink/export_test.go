package sink

// CheckCovered is checkCovered, for the tests of package sink_test.
var CheckCovered = checkCovered
