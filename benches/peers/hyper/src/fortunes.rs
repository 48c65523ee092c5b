//! The `/fortunes` page: TechEmpower's fixed HTML template, filled by hand.
//!
//! A template engine would be the idiomatic choice in an application; here a few `push_str`s
//! keep the work comparable with rasgi, which has no template engine either. What the test
//! really checks is the escaping: the `<script>` fortune must come out inert and the Japanese
//! one byte-exact in UTF-8.

use std::fmt::Write;

use crate::db::Fortune;

/// Adds the request-time fortune, sorts by message and renders the page.
pub fn render(mut rows: Vec<Fortune>) -> String {
    rows.push(Fortune {
        id: 0,
        message: "Additional fortune added at request time.".to_string(),
    });
    // Byte order of UTF-8 equals code-point order, which is what the reference output uses.
    rows.sort_unstable_by(|a, b| a.message.cmp(&b.message));

    let mut html = String::with_capacity(1536);
    html.push_str(
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>\
         <tr><th>id</th><th>message</th></tr>",
    );
    for row in &rows {
        html.push_str("<tr><td>");
        let _ = write!(html, "{}", row.id);
        html.push_str("</td><td>");
        escape_into(&row.message, &mut html);
        html.push_str("</td></tr>");
    }
    html.push_str("</table></body></html>");
    html
}

/// Escapes the five characters that matter in HTML text and attribute context.
fn escape_into(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_sorts() {
        let html = render(vec![
            Fortune {
                id: 11,
                message: "<script>\"x\" & 'y'</script>".into(),
            },
            Fortune {
                id: 12,
                message: "フレームワークのベンチマーク".into(),
            },
        ]);
        assert!(html.contains(
            "<tr><td>11</td><td>&lt;script&gt;&quot;x&quot; &amp; &#x27;y&#x27;&lt;/script&gt;</td></tr>"
        ));
        let extra = html.find("Additional fortune").unwrap();
        let script = html.find("&lt;script").unwrap();
        let japanese = html.find("フレームワーク").unwrap();
        assert!(script < extra && extra < japanese);
    }
}
