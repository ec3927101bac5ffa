package server

import "google.golang.org/protobuf/encoding/protowire"

// resourceName reads field 1 (name, or cluster_name for ClusterLoadAssignment) of every resource type
// the bridge serves straight from the wire bytes, so bookkeeping never unmarshals whole resources.
func resourceName(_ string, b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return ""
			}
			return string(v)
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return ""
		}
		b = b[m:]
	}
	return ""
}
