package cli

import (
	"encoding/json"
	"testing"
)

func TestPatchFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setJSON string
		args    []string
		want    string
		wantErr bool
	}{
		{name: "strings and JSON", args: []string{"company=Acme", "amount=12", "vip=true", "tags=[\"a\"]", "note=", "x=null"},
			want: `{"amount":12,"company":"Acme","note":"","tags":["a"],"vip":true,"x":null}`},
		{name: "quoted number stays a string", args: []string{`zip="0123"`, "code=0123"}, want: `{"code":"0123","zip":"0123"}`},
		{name: "long number kept exact", args: []string{"id=12345678901234567890"}, want: `{"id":12345678901234567890}`},
		{name: "trailing garbage is a string", args: []string{"a=12}"}, want: `{"a":"12}"}`},
		{name: "dotted names and value with =", args: []string{"address.city=Oslo", "q=a=b"}, want: `{"address.city":"Oslo","q":"a=b"}`},
		{name: "arguments override --set-json", setJSON: `{"company":"Old","amount":1}`, args: []string{"company=New"}, want: `{"amount":1,"company":"New"}`},
		{name: "no equals", args: []string{"company"}, wantErr: true},
		{name: "empty name", args: []string{"=x"}, wantErr: true},
		{name: "set-json not an object", setJSON: `[1]`, wantErr: true},
		{name: "nothing", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := patchFields(tt.setJSON, tt.args)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(got)
			if string(b) != tt.want {
				t.Fatalf("got %s, want %s", b, tt.want)
			}
		})
	}
}

func TestAPIErrorText(t *testing.T) {
	t.Parallel()
	ae := parseAPIError(409, nil, []byte(`{"error":{"code":409,"kind":"incomplete","message":"still missing required fields: company","missing":["company"]}}`))
	want := "409 Conflict (incomplete): still missing required fields: company\n  missing: company"
	if ae.Error() != want {
		t.Fatalf("got %q\nwant %q", ae.Error(), want)
	}
	ae = parseAPIError(502, nil, []byte("<html>bad gateway</html>\n"))
	if got := ae.Error(); got != "502 Bad Gateway: <html>bad gateway</html>" {
		t.Fatalf("got %q", got)
	}
}
