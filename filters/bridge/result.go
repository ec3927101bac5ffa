package bridge

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Result is the HTTP answer to one call.
type Result struct {
	Status    int
	Value     any    // the method's return value (JSON-ready), on success
	Error     string // short cause on failure: the bad field, "exception", "dubbo status 60", ...
	Message   string
	Exception string // Java class of a thrown exception
	field     string
}

func errResult(status int, cause, msg string) *Result {
	return &Result{Status: status, Error: cause, Message: msg}
}

// BadRequest is the result for a request the gateway refused.
func BadRequest(err error) *Result {
	var be *BadRequestError
	if errors.As(err, &be) {
		return &Result{Status: http.StatusBadRequest, Error: "bad request", Message: be.Error(), field: be.Field}
	}
	return errResult(http.StatusBadRequest, "bad request", err.Error())
}

// UpstreamFailure is the result when the upstream stream broke or closed early.
func UpstreamFailure(err error) *Result {
	return errResult(http.StatusBadGateway, "upstream", err.Error())
}

// JSON is the response body: {"result": v} on success, {"error", "message", "field"?, "exception"?}
// otherwise.
func (r *Result) JSON() []byte {
	var out any
	if r.Status == http.StatusOK {
		out = struct {
			Result any `json:"result"`
		}{r.Value}
	} else {
		out = struct {
			Error     string `json:"error"`
			Message   string `json:"message,omitempty"`
			Field     string `json:"field,omitempty"`
			Exception string `json:"exception,omitempty"`
		}{r.Error, r.Message, r.field, r.Exception}
	}
	b, err := json.Marshal(out)
	if err != nil {
		r.Status = http.StatusBadGateway
		b, _ = json.Marshal(map[string]string{"error": "upstream", "message": "response not representable as JSON: " + err.Error()})
	}
	return b
}
