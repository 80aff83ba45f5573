package fleet

import (
	"reflect"
	"testing"

	"github.com/earshot/earshot/ingest"
)

// TestRegistryValueKeepsEveryField: the registry value carries every field
// of a stream's configuration; a field added to ingest.StreamConfig and
// not to the registry fails here.
func TestRegistryValueKeepsEveryField(t *testing.T) {
	sc := ingest.StreamConfig{ID: "cam-1", URL: "rtsps://192.0.2.1/x", Transport: "tcp", FollowRedirects: "none", Backend: "gortsplib", CAFile: "", InsecureSkipVerify: true}
	v := reflect.ValueOf(sc)
	for i := range v.NumField() {
		if name := v.Type().Field(i).Name; v.Field(i).IsZero() && name != "CAFile" { // a CA file must exist to validate
			t.Errorf("the sample leaves %s unset: set it so that the round trip covers it", name)
		}
	}
	b, err := encodeStream(sc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeStream(sc.ID, b)
	if err != nil || got != sc {
		t.Errorf("round trip: %+v, %v; want %+v", got, err, sc)
	}
}
