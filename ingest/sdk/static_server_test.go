package sdk_test

import (
	"net"
	"testing"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
)

// staticServer answers DESCRIBE with a fixed description and sends nothing:
// enough to test what Open does with what a source offers.
type staticServer struct {
	srv    *gortsplib.Server
	stream *gortsplib.ServerStream
}

func startStaticServer(t *testing.T, desc *description.Session) string {
	t.Helper()
	s := &staticServer{}
	var addr string
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: "127.0.0.1:0",
		Listen: func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			if err == nil {
				addr = ln.Addr().String()
			}
			return ln, err
		}}
	if err := s.srv.Start(); err != nil {
		t.Fatal(err)
	}
	s.stream = &gortsplib.ServerStream{Server: s.srv, Desc: desc}
	if err := s.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stream.Close()
		s.srv.Close()
	})
	return "rtsp://" + addr + "/static"
}

func (s *staticServer) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

func (s *staticServer) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

func (s *staticServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}
