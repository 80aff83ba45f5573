package loadtest

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// scenarioFiles are the load-test scenarios that ship with earshot (see
// package loadtest/harness and `earshot loadtest`).
//
//go:embed scenarios/*.yaml
var scenarioFiles embed.FS

// ScenarioNames returns the names of the built-in scenarios, sorted:
// capacity, faults, fleet, smoke, soak.
func ScenarioNames() []string {
	entries, _ := fs.ReadDir(scenarioFiles, "scenarios") // embedded: cannot fail
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// ScenarioFile returns the YAML of the built-in scenario called name.
func ScenarioFile(name string) ([]byte, error) {
	if !slices.Contains(ScenarioNames(), name) {
		return nil, fmt.Errorf("no built-in scenario %q (have %s)", name, strings.Join(ScenarioNames(), ", "))
	}
	return scenarioFiles.ReadFile("scenarios/" + name + ".yaml")
}
