//go:build gstreamer

package gst

import (
	"debug/elf"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/earshot/earshot/loadtest/testkit"
)

// TestGStreamerIsLoadedOnFirstNew runs in a child process, which starts
// with no GStreamer or GLib library mapped and maps them on New (issue 14).
func TestGStreamerIsLoadedOnFirstNew(t *testing.T) {
	if !testkit.InChild(t) {
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
	if !testkit.InChild(t, "LD_LIBRARY_PATH="+testkit.UnloadableLibrary(t, "libgstreamer-1.0.so.0")) {
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

// gstMapped returns the names of the GStreamer and GLib files mapped into
// the process, sorted.
func gstMapped(t testing.TB) []string { return testkit.MappedFiles(t, gstLibrary) }

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
