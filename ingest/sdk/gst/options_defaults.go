//go:build gstreamer

package gst

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults are applied in one place, by New.
func (o *Options) setDefaults() {
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.QueueLen == 0 {
		o.QueueLen = 32
	}
	if o.Latency == 0 {
		o.Latency = 200 * time.Millisecond
	}
	if o.UDPTimeout == 0 {
		o.UDPTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.Workers < 1 || o.Workers > 1024 {
		//lint:ignore ST1005 the message begins with the option's name
		errs = append(errs, fmt.Errorf("Workers must be between 1 and 1024, got %d", o.Workers))
	}
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
