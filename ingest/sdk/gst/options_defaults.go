//go:build gstreamer

package gst

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/earshot/earshot/ingest/sdk/internal/handoff"
)

// Defaults are applied in one place, by New.
func (o *Options) setDefaults() {
	o.Workers = cmp.Or(o.Workers, handoff.DefaultWorkers)
	o.QueueLen = cmp.Or(o.QueueLen, 32)
	o.Latency = cmp.Or(o.Latency, 200*time.Millisecond)
	o.UDPTimeout = cmp.Or(o.UDPTimeout, 5*time.Second)
	o.Logger = cmp.Or(o.Logger, slog.Default())
}

// Validate reports every problem of o, defaults applied, as New would:
// a configuration is checked before GStreamer starts, which is when a
// stream first needs it.
func (o Options) Validate() error {
	o.setDefaults()
	return o.validate()
}

func (o *Options) validate() error {
	errs := []error{handoff.ValidateWorkers(o.Workers)}
	if o.QueueLen < 1 || o.QueueLen > 65536 {
		errs = append(errs, fmt.Errorf("QueueLen must be between 1 and 65536, got %d", o.QueueLen))
	}
	if o.Latency < 0 {
		//lint:ignore ST1005 the message begins with the option's name
		errs = append(errs, fmt.Errorf("Latency must not be negative, got %s", o.Latency))
	}
	if o.UDPTimeout < 0 {
		errs = append(errs, fmt.Errorf("UDPTimeout must not be negative, got %s", o.UDPTimeout))
	}
	return errors.Join(errs...)
}
