package audio

// registry returns every codec earshot decodes, one entry each. It builds
// the table afresh on every call, so that no caller can change what
// another sees; lookups happen once per track, not per packet.
//
// Adding a codec: an entry here (with its identify function in sdp.go and
// a depacketizer if its payloads are not whole frames), its decoder in
// audio/decoder's table, its synthetic camera's encoder in loadtest's
// table, and its cases in those packages' tests.
func registry() []Codec {
	codecs := []Codec{
		{Name: CodecOpus, Encoding: "opus", Fidelity: 0.8, identify: identifyOpus},
		{Name: CodecPCMA, Encoding: "PCMA", CodedBits: 8, Fidelity: 0.95, identify: identifyLinear,
			static: []staticType{{8, "PCMA/8000"}}},
		{Name: CodecPCMU, Encoding: "PCMU", CodedBits: 8, Fidelity: 0.95, identify: identifyLinear,
			static: []staticType{{0, "PCMU/8000"}}},
		{Name: CodecL16, Encoding: "L16", CodedBits: 16, Fidelity: 0.98, identify: identifyLinear,
			static: []staticType{{10, "L16/44100/2"}, {11, "L16/44100/1"}}},
		{Name: CodecAAC, Encoding: "mpeg4-generic", Fidelity: 0.95, identify: identifyAAC, depacketizer: newAUDepacketizerFor},
		{Name: CodecAACLATM, Encoding: "MP4A-LATM", Fidelity: 0.95, identify: identifyLATM, depacketizer: newLATMDepacketizerFor},
		{Name: CodecMPA, Encoding: "MPA", Fidelity: 0.9, identify: identifyMPA, depacketizer: newMPADepacketizer,
			accessUnit: mpaAccessUnit, static: []staticType{{14, "MPA/90000"}}},
		{Name: CodecAMR, Encoding: "AMR", SampleRate: 8000, Mono: true, Fidelity: 0.8, identify: identifyAMR,
			depacketizer: newAMRDepacketizer, accessUnit: amrAccessUnit(8000)},
		{Name: CodecAMRWB, Encoding: "AMR-WB", SampleRate: 16000, Mono: true, Fidelity: 0.9, identify: identifyAMR,
			depacketizer: newAMRDepacketizer, accessUnit: amrAccessUnit(16000)},
		{Name: CodecG722, Encoding: "G722", SampleRate: 16000, ClockRate: 8000, Mono: true, CodedBits: 8, Fidelity: 0.98,
			identify: identifyFixed, static: []staticType{{9, "G722/8000"}}},
	}
	for _, aal2 := range []bool{false, true} {
		for _, kbps := range []int{16, 24, 32, 40} {
			name := G726Codec(kbps, aal2)
			// 2 bits a sample lose more of the clip than 3 to 5.
			fidelity := 0.93
			if kbps == 16 {
				fidelity = 0.9
			}
			codecs = append(codecs, Codec{Name: name, Encoding: name, SampleRate: 8000, Mono: true,
				CodedBits: kbps / 8, AAL2: aal2, Fidelity: fidelity, identify: identifyFixed})
		}
	}
	return codecs
}

// Codecs returns the name of every codec in the registry, in a fixed
// order.
func Codecs() []string {
	r := registry()
	names := make([]string, len(r))
	for i, c := range r {
		names[i] = c.Name
	}
	return names
}

// LookupCodec returns the registry entry of the codec named name.
func LookupCodec(name string) (Codec, bool) {
	for _, c := range registry() {
		if c.Name == name {
			return c, true
		}
	}
	return Codec{}, false
}
