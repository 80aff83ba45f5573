// Command earshot pulls live audio from RTSP sources, decodes it to 16 kHz
// mono PCM and produces it to Kafka for speech recognition.
package main

import "os"

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}
