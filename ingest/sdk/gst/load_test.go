//go:build gstreamer

package gst

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// loadChildEnv makes the test binary run a loading test's child half.
const loadChildEnv = "EARSHOT_GST_LOAD_CHILD"

// TestGStreamerIsLoadedOnFirstNew runs in a child process, which starts
// with no GStreamer or GLib library mapped and maps them on New (issue 14).
func TestGStreamerIsLoadedOnFirstNew(t *testing.T) {
	if os.Getenv(loadChildEnv) != "1" {
		runChild(t)
		return
	}
	if libs := gstMapped(t); len(libs) > 0 {
		t.Fatalf("mapped before New: %v, want no GStreamer or GLib library", libs)
	}
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	libs := gstMapped(t)
	for _, want := range []string{"libgstreamer-1.0.so", "libgstapp-1.0.so", "libgstrtp-1.0.so",
		"libgio-2.0.so", "libgobject-2.0.so", "libglib-2.0.so"} {
		if !slices.ContainsFunc(libs, func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("mapped after New: %v, want %s among them", libs, want)
		}
	}
}

// TestNewReportsLibrariesThatCannotBeLoaded runs in a child process whose
// libgstreamer-1.0.so.0 is an empty file: New fails, every time, with the
// dynamic loader's reason, and the process goes on.
func TestNewReportsLibrariesThatCannotBeLoaded(t *testing.T) {
	if os.Getenv(loadChildEnv) != "1" {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "libgstreamer-1.0.so.0"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		runChild(t, "LD_LIBRARY_PATH="+dir)
		return
	}
	for range 2 {
		s, err := New(Options{})
		if !errors.Is(err, ErrLibrariesUnavailable) || !strings.Contains(err.Error(), "libgstreamer-1.0.so.0: file too short") {
			t.Fatalf("New = %v, %v; want an error wrapping ErrLibrariesUnavailable with dlerror's reason", s, err)
		}
	}
}

// TestNoGStreamerSymbolIsLinked reads the test binary, linked as earshot
// is: no GStreamer or GLib library among its needed ones, and none of
// their functions among its imports. glue.c calls them through the table
// of gstload.h; a function missing from GSTL_FUNCS shows up here.
func TestNoGStreamerSymbolIsLinked(t *testing.T) {
	f, err := elf.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		if gstLibrary(l) {
			t.Errorf("needed library %s: GStreamer's libraries are loaded by New", l)
		}
	}
	syms, err := f.ImportedSymbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "g_") || strings.HasPrefix(s.Name, "gst_") {
			t.Errorf("imported symbol %s: add it to GSTL_FUNCS in gstload.h", s.Name)
		}
	}
}

// runChild runs the calling test alone in a child process of the test
// binary, with loadChildEnv set and env, and fails if the child did not
// pass it.
func runChild(t *testing.T, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), loadChildEnv+"=1"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child did not run the test:\n%s", out)
	}
}

// gstMapped returns the names of the GStreamer and GLib files mapped into
// the process, sorted.
func gstMapped(tb testing.TB) []string {
	tb.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		tb.Fatal(err)
	}
	var libs []string
	for l := range strings.Lines(string(maps)) {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		if name := filepath.Base(f[5]); gstLibrary(name) && !slices.Contains(libs, name) {
			libs = append(libs, name)
		}
	}
	slices.Sort(libs)
	return libs
}

// gstLibrary reports whether a library file or soname is GStreamer's or
// GLib's.
func gstLibrary(name string) bool {
	for _, p := range []string{"libgst", "libglib-2.0.", "libgobject-2.0.", "libgio-2.0.", "libgmodule-2.0."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
